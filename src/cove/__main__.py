from cove.cli.main import main

raise SystemExit(main())

from cove.cli.launch import main

raise SystemExit(main())

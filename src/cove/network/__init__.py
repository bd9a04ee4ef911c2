"""Networks: bridge networks, their address management and the rules that connect them."""

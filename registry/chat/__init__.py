"""Chat sessions and the engines that run them."""

"""What runs in the cluster: the operator, the node agent, their informers, writers, firewall
link, webhook server and L2 speaker. Layered on controller.core; never imports controller.cli."""

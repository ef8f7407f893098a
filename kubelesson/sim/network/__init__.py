"""The simulated cluster's network: cluster DNS (dns.py), kube-proxy's forwarding to the
programs in pods (dataplane.py), NodePort allocation (nodeports.py), the k3d load balancer's
host ports into ServiceLB's pods (hostports.py) and traefik's router (ingress.py)."""

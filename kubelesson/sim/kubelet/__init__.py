"""What the kubelet and the container runtime do on a node: pod lifecycle, images and
their tags, a container's environment and files, its probes, and the programs that
listen in it (backends.py)."""

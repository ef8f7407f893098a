"""kubelesson: run a Kubernetes course's lessons with the real kubectl and check the output."""

__version__ = "0.1.0"

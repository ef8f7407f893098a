"""Simulated processes inside simulated containers (lesson 5): what `kubectl exec`,
`kubectl attach` and `kubectl run -i` reach.

profiles.py says what an image holds (its shell, programs, environment, files); files.py
is a container's file system; network.py the pod network (cluster DNS, kube-proxy);
script.py and sh.py the shells; coreutils.py, netcmds.py and redis_cli.py the programs;
process.py the main process of a container and the environment it runs with.
"""

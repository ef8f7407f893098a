"""`python -m kubelesson.sim …`: the background process `kubelesson sim up` starts."""

from kubelesson.sim.cli import sim

sim(prog_name="python -m kubelesson.sim")

"""The main job (``acq demo``): the stack-pressure series on the simulated station, its
results read back from Tiled as tables beside the simulator's truth (`summary`)."""

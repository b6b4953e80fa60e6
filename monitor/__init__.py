"""infusion-monitor: vital-sign monitoring for IV ketamine infusion clinics.

Decision support only: the devices' own alarms stay primary.
"""
__version__ = "0.1.0"

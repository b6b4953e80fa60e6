"""Simulated devices: a physiological patient model and the `sim` bedside."""
from .devices import SimBedside
from .physiology import SCENARIOS, Patient, Scenario

__all__ = ["SimBedside", "Patient", "Scenario", "SCENARIOS"]

"""Sending what the monitor recorded to other systems (issue 15): a results interface to a
clinic's EHR or lab system. Producers queue message texts in the store's outbox
(monitor/store/outbox.py); a sender per destination delivers them in order (`mllp`: HL7 v2
over MLLP). Nothing here decides anything clinical or touches the database directly."""

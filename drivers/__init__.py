"""The bridge to the gun: wire definitions shared with the firmware, and the host drivers."""

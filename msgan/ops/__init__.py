"""MindSpore workarounds with no model knowledge. ``ops.device`` (how compiled steps are
launched) and ``ops.onednn`` (the CPU's oneDNN ISA cap) depend on the device; the rest does not."""

"""MindSpore workarounds with no model knowledge. ``ops.conv`` is the only place in msgan that
looks at the device (to pick convolution Cells); everything else here is device-independent."""

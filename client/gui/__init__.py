"""The tray app: a Qt view of the agent (``client.agent.Agent``).

The agent runs in its own threads; ``bridge.AgentBridge`` turns its
callbacks into Qt signals, so the GUI thread only ever paints and never
waits on the network or the disk.
"""

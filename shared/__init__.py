"""What every part of fpw must agree on: the job record, canonical signing,
result encryption, the chunk format, configuration and AWS sessions."""

__version__ = "0.1.0"

from .contiguous_connector import ContiguousConnector

__all__ = ['ContiguousConnector']

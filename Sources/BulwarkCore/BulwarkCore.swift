/// Gateway configuration, JSON-RPC types and errors. (Being built.)
public enum BulwarkCore {}

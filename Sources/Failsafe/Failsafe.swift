/// Resilience policy as pure state machines. (Being built.)
public enum Failsafe {}

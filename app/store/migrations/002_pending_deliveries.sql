-- Deliveries are stored unrouted at intake and routed into jobs by the worker: find the waiting ones
-- without scanning every delivery ever kept.
CREATE INDEX deliveries_pending ON deliveries (received_at) WHERE state = 'pending';

SET force_compression = 'uncompressed';  -- staged tables dropped after the run: written as they are
-- Scope: which visitors this run changes, and from which point on.
-- Full refresh: every visitor is rebuilt from the first event; there is nothing to scope.

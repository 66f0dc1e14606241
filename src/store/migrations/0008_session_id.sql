-- Each signed-in session's own id (the `sid` value of its state), so that a live stream
-- can ask whether the session it was opened in still exists.
ALTER TABLE sessions ADD COLUMN session_id TEXT;
CREATE INDEX sessions_by_session_id ON sessions (session_id);

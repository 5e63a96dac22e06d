//! The deployment recipes under `deploy/` checked against the code's topology (issue #18).

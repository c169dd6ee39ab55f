//! `flash deploy`: upload the artifact and reconcile endpoints with the platform.

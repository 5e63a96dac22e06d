//! One shutdown signal for the server and every background loop.

use tokio::sync::watch;

/// Fires once; cloned into every background task.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// The side that fires the signal (held by `main` or a test).
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A fresh signal and its trigger.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Asks every holder of the signal to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }

    /// A new receiver of this trigger's signal.
    pub fn signal(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Resolves when shutdown has been asked for (at once if it already was). Cancel-safe.
    pub async fn wait(&mut self) {
        // An error means the trigger is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown has been asked for.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

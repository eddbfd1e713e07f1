//! Group commit for the inbox: one writer thread takes every pending webhook, commits them in one
//! durable redb transaction, then answers each caller. A webhook is acknowledged only after the
//! commit that holds it (invariant 1, the [`Inbox`] durability contract), and many deliveries
//! share one fsync.

use bigreach_core::model::InboxEntry;
use bigreach_core::store::{Appended, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::receiver::Inbox;

/// Most entries per commit.
const MAX_GROUP: usize = 2048;

type Reply = oneshot::Sender<Result<Appended, String>>;

/// Handle to the writer thread. Cloning shares the thread.
#[derive(Clone, Debug)]
pub struct InboxWriter {
    sender: mpsc::Sender<(InboxEntry, Reply)>,
}

/// The writer could not store an entry.
#[derive(Debug, thiserror::Error)]
pub enum InboxWriteError {
    /// The writer thread has stopped (shutdown).
    #[error("the inbox writer has stopped; BigReach is shutting down")]
    Stopped,
    /// The store failed; nothing of this group was stored.
    #[error("inbox commit failed: {0}")]
    Store(String),
}

impl InboxWriter {
    /// Starts the writer thread over `store`. `on_commit` runs after each successful commit
    /// (the runtime uses it to wake the enrich stage).
    pub fn start(store: Store, on_commit: impl Fn() + Send + 'static) -> Self {
        Self::start_joinable(store, on_commit).0
    }

    /// Like [`InboxWriter::start`], and also returns the thread, which ends (releasing the
    /// store) once every clone of the writer is dropped.
    pub fn start_joinable(
        store: Store,
        on_commit: impl Fn() + Send + 'static,
    ) -> (Self, std::thread::JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::channel::<(InboxEntry, Reply)>(8192);
        let thread = std::thread::Builder::new()
            .name("bigreach-inbox-writer".into())
            .spawn(move || {
                while let Some(first) = receiver.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match receiver.try_recv() {
                            Ok(next) => group.push(next),
                            Err(_) => break,
                        }
                    }
                    let (entries, replies): (Vec<InboxEntry>, Vec<Reply>) = group.into_iter().unzip();
                    let result: Result<Vec<Appended>, StoreError> = store.append_inbox(&entries);
                    match result {
                        Ok(results) => {
                            for (reply, appended) in replies.into_iter().zip(results) {
                                let _ = reply.send(Ok(appended));
                            }
                            on_commit();
                        }
                        Err(error) => {
                            tracing::error!(%error, entries = entries.len(), "inbox group commit failed");
                            let message = error.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(message.clone()));
                            }
                        }
                    }
                }
            })
            .expect("spawning the inbox writer thread");
        (InboxWriter { sender }, thread)
    }

    /// Stores one entry durably (possibly together with others) and says whether it was new.
    pub async fn append(&self, entry: InboxEntry) -> Result<Appended, InboxWriteError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((entry, reply))
            .await
            .map_err(|_| InboxWriteError::Stopped)?;
        answer
            .await
            .map_err(|_| InboxWriteError::Stopped)?
            .map_err(InboxWriteError::Store)
    }
}

/// Answers only after the group commit holding the entry (durable redb transaction).
impl Inbox for InboxWriter {
    async fn append(&self, entry: InboxEntry) -> Result<Appended, InboxWriteError> {
        InboxWriter::append(self, entry).await
    }
}

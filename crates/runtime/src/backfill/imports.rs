//! The history import (`[history] mode = "imports"`, after the files are written): the
//! appliance serves the files ([`crate::history_files`]) and, one file at a time, creates its
//! import definition (`core::backfill::imports`), starts it, follows its run to done or
//! failed on the injected clock, and deletes the definition of a run that imported every row
//! (so a large backfill stays under Bloomreach's 25 API-created definitions). A failed run's
//! definition is kept for the operator, with Bloomreach's reason in the progress, until the
//! import is run again: then the failed files start over with new definitions.
//!
//! Every step is recorded in the store's progress before the next call: `creating` before the
//! create call (a crash before its answer was recorded is resolved by finding the definition
//! by its URL, which holds the run's random segment), `created` with the id before the start
//! call (a resumed run reads the definition and follows a run it already has instead of
//! starting another), `running`, then `done` or `failed`. Nothing is `done` that Bloomreach
//! did not report finished with every row imported.

use std::collections::BTreeSet;
use std::time::Duration;

use bigreach_bloomreach::{
    BloomreachClient, BloomreachError, ImportDefinition, ImportRunState, ImportRunStatus,
    StartImport,
};
use bigreach_core::backfill::imports::{definition, UrlSource};
use bigreach_core::backfill::progress::{BackfillProgress, FilesAccess, ImportRun, Phase};
use bigreach_core::backfill::FileKind;
use tokio::sync::watch;
use url::Url;

use super::{schemas, BackfillError, BackfillJob};
use crate::history_files::{self, FilesToServe};
use crate::retry_policy::{self, Backoff, Directive, Wait};

/// Attempts at one Bloomreach call that keeps failing for a transient reason (429, 5xx,
/// unreachable) before the backfill stops; `bigreach backfill run` resumes it.
const MAX_TRANSIENT_ATTEMPTS: u32 = 8;
/// The slowest poll of a running import.
const MAX_POLL: Duration = Duration::from_secs(60);
/// Definitions read per page when a crashed create call is looked for.
const LIST_PAGE: u32 = 50;

/// What the import step needs besides the backfill job.
pub struct ImportSettings {
    /// Bloomreach (private access with the Imports permissions).
    pub bloomreach: BloomreachClient,
    /// The file server's listener (`[history] files_listen`, already bound).
    pub listener: std::net::TcpListener,
    /// The base URL Bloomreach downloads the files from (`[history] files_public_url`).
    pub public_url: Url,
    /// `[bloomreach] catalog_name`.
    pub catalog_name: String,
    /// The first wait between two reads of a running import (doubling to a minute).
    pub poll_every: Duration,
}

impl std::fmt::Debug for ImportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSettings")
            .field("public_url", &self.public_url.as_str())
            .field("catalog_name", &self.catalog_name)
            .field("poll_every", &self.poll_every)
            .finish_non_exhaustive()
    }
}

/// A random URL-safe token of `bytes` random bytes (hex).
fn random_token(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

/// The URL of `file` for this run.
pub fn file_url(public_url: &Url, access: &FilesAccess, file: &str) -> Result<Url, BackfillError> {
    public_url
        .join(&format!("{}/{file}", access.run))
        .map_err(|error| BackfillError::Setting {
            field: "history.files_public_url",
            problem: error.to_string(),
        })
}

impl BackfillJob {
    /// Imports the written files through the Imports API (resumable: call it again after a
    /// kill). `on_update` sees the progress after every recorded step.
    pub async fn import(
        &self,
        settings: ImportSettings,
        mut on_update: impl FnMut(&BackfillProgress),
    ) -> Result<BackfillProgress, BackfillError> {
        let mut progress = self
            .store
            .backfill_progress()?
            .ok_or(BackfillError::NotWritten)?;
        match progress.phase {
            Phase::Listing => return Err(BackfillError::NotWritten),
            Phase::Done => return Ok(progress),
            Phase::Written | Phase::Importing | Phase::Failed => {}
        }
        if progress.phase == Phase::Failed {
            // Run again after a failure: the failed files start over with new definitions
            // (the old ones deleted; what a failed run did import is imported again, which
            // Bloomreach's duplicate filter and the idempotent customer and catalog updates
            // absorb).
            for run in progress
                .imports
                .iter_mut()
                .filter(|run| run.state == ImportRun::FAILED)
            {
                if !run.import_id.is_empty() {
                    if let Err(error) = settings.bloomreach.delete_import(&run.import_id).await {
                        tracing::warn!(file = %run.file, %error, "the failed import definition could not be deleted");
                    }
                }
                *run = ImportRun::pending(run.file.clone());
            }
            progress.phase = Phase::Importing;
            progress.failure = None;
            self.store.write(|tx| tx.put_backfill_progress(&progress))?;
            on_update(&progress);
        }
        if progress.files_access.is_none() {
            progress.files_access = Some(FilesAccess {
                run: random_token(12),
                password: random_token(24),
            });
            progress.imports = FileKind::ALL
                .into_iter()
                .flat_map(|kind| progress.files[&kind].files.iter())
                .filter(|file| file.rows > 0)
                .map(|file| ImportRun::pending(file.name.clone()))
                .collect();
            progress.phase = Phase::Importing;
            self.store.write(|tx| tx.put_backfill_progress(&progress))?;
            on_update(&progress);
        }
        let access = progress
            .files_access
            .clone()
            .expect("the access was recorded above");
        let listener = tokio::net::TcpListener::from_std({
            settings
                .listener
                .set_nonblocking(true)
                .map_err(|source| BackfillError::Listen { source })?;
            settings
                .listener
                .try_clone()
                .map_err(|source| BackfillError::Listen { source })?
        })
        .map_err(|source| BackfillError::Listen { source })?;
        let (stop, shutdown) = watch::channel(false);
        let files = FilesToServe {
            dir: self.dir.clone(),
            names: progress
                .imports
                .iter()
                .map(|run| run.file.clone())
                .collect::<BTreeSet<_>>(),
            access: access.clone(),
        };
        let (_, server) = history_files::serve(listener, files, self.clock.clone(), shutdown)
            .map_err(|source| BackfillError::Listen { source })?;
        let outcome = self
            .import_files(&settings, &access, &mut progress, &mut on_update)
            .await;
        let _ = stop.send(true);
        let _ = server.await;
        outcome?;
        let failed = progress
            .imports
            .iter()
            .find(|run| run.state == ImportRun::FAILED);
        progress.phase = if failed.is_some() {
            Phase::Failed
        } else {
            Phase::Done
        };
        progress.failure = failed.map(|run| {
            format!(
                "{}: {}",
                run.file,
                run.reason.as_deref().unwrap_or("the import failed")
            )
        });
        self.store.write(|tx| tx.put_backfill_progress(&progress))?;
        on_update(&progress);
        Ok(progress)
    }

    async fn import_files(
        &self,
        settings: &ImportSettings,
        access: &FilesAccess,
        progress: &mut BackfillProgress,
        on_update: &mut impl FnMut(&BackfillProgress),
    ) -> Result<(), BackfillError> {
        let backoff = Backoff::new(Duration::from_secs(1), MAX_POLL, rand::random());
        let schemas = schemas(&self.settings);
        let bloomreach = &settings.bloomreach;
        let mut catalog_ready = false;
        for index in 0..progress.imports.len() {
            while !progress.imports[index].ended() {
                let run = progress.imports[index].clone();
                let kind = FileKind::ALL
                    .into_iter()
                    .find(|kind| run.file.starts_with(&format!("{}-", kind.stem())))
                    .expect("every import file is of a kind");
                let url = file_url(&settings.public_url, access, &run.file)?;
                match run.state.as_str() {
                    ImportRun::PENDING => {
                        self.record(progress, index, on_update, |r| {
                            r.state = ImportRun::CREATING.to_owned();
                        })?;
                    }
                    ImportRun::CREATING => {
                        if kind == FileKind::CatalogItems && !catalog_ready {
                            self.call(&backoff, || {
                                crate::ensure_product_catalog(
                                    bloomreach,
                                    &settings.catalog_name,
                                    &self.settings.catalog,
                                )
                            })
                            .await?
                            .map_err(BackfillError::Bloomreach)?;
                            catalog_ready = true;
                        }
                        let found = self.find_definition(bloomreach, &backoff, &url).await?;
                        let created = match found {
                            Some(id) => Ok(id),
                            None => {
                                let body = definition(
                                    &schemas[&kind],
                                    &run.file,
                                    &settings.catalog_name,
                                    Some(&UrlSource {
                                        url: url.to_string(),
                                        username: FilesAccess::USERNAME.to_owned(),
                                        password: access.password.clone(),
                                    }),
                                );
                                let typed: ImportDefinition = serde_json::from_value(body)
                                    .map_err(|error| BackfillError::Setting {
                                        field: "history import definition",
                                        problem: error.to_string(),
                                    })?;
                                self.call(&backoff, || bloomreach.create_import(&typed))
                                    .await?
                            }
                        };
                        self.record(progress, index, on_update, |r| match created {
                            Ok(id) => {
                                r.import_id = id;
                                r.state = ImportRun::CREATED.to_owned();
                            }
                            Err(error) => fail(r, &error.to_string()),
                        })?;
                    }
                    ImportRun::CREATED => {
                        // A run already there (a kill after the start call) is followed, not
                        // started again.
                        let state = self
                            .call(&backoff, || bloomreach.import_state(&run.import_id))
                            .await?
                            .map_err(BackfillError::Bloomreach)?;
                        let started = match state.last_run {
                            Some(_) => Ok(()),
                            None => {
                                let request = StartImport {
                                    path: None,
                                    // The run itself reports an unreachable file, with the
                                    // reason, instead of a 400 that records no run.
                                    test_connection: false,
                                };
                                self.call(&backoff, || {
                                    bloomreach.start_import(&run.import_id, &request)
                                })
                                .await?
                            }
                        };
                        self.record(progress, index, on_update, |r| match started {
                            Ok(()) => r.state = ImportRun::RUNNING.to_owned(),
                            Err(error) => fail(r, &error.to_string()),
                        })?;
                    }
                    ImportRun::RUNNING => {
                        let last = self.follow(bloomreach, &backoff, &run, settings).await?;
                        let imported_all = last.state == ImportRunState::Finished
                            && last.rows_failed == 0
                            && last.errors.is_empty();
                        if imported_all {
                            // Best effort: a definition left behind only counts against the
                            // project's 25; its data stays either way.
                            if let Err(error) = bloomreach.delete_import(&run.import_id).await {
                                tracing::warn!(file = %run.file, %error, "the finished import definition could not be deleted");
                            }
                        }
                        self.record(progress, index, on_update, |r| {
                            r.rows_imported = last.rows_imported;
                            r.rows_failed = last.rows_failed;
                            if imported_all {
                                r.state = ImportRun::DONE.to_owned();
                                r.reason = None;
                            } else {
                                let reason = run_reason(&last);
                                fail(r, &reason);
                            }
                        })?;
                    }
                    other => {
                        let other = other.to_owned();
                        self.record(progress, index, on_update, |r| {
                            fail(r, &format!("unknown recorded state {other:?}"));
                        })?;
                    }
                };
            }
        }
        Ok(())
    }

    /// Changes import `index` and records the progress before anything else happens.
    fn record(
        &self,
        progress: &mut BackfillProgress,
        index: usize,
        on_update: &mut impl FnMut(&BackfillProgress),
        change: impl FnOnce(&mut ImportRun),
    ) -> Result<(), BackfillError> {
        change(&mut progress.imports[index]);
        let run = &progress.imports[index];
        tracing::info!(file = %run.file, import_id = %run.import_id, state = %run.state, rows_imported = run.rows_imported, rows_failed = run.rows_failed, "history import");
        self.store.write(|tx| tx.put_backfill_progress(progress))?;
        on_update(progress);
        Ok(())
    }

    /// One Bloomreach call through the retry policy: transient failures wait (on the clock)
    /// and retry, a refused credential or a missing route stops the backfill
    /// ([`BackfillError::Bloomreach`], resumable), a rejection is the caller's (`Ok(Err)`).
    async fn call<T, F, Fut>(
        &self,
        backoff: &Backoff,
        mut request: F,
    ) -> Result<Result<T, BloomreachError>, BackfillError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, BloomreachError>>,
    {
        let mut failures = 0u32;
        loop {
            let error = match request().await {
                Ok(answer) => return Ok(Ok(answer)),
                Err(error) => error,
            };
            match retry_policy::bloomreach_request(&error).directive {
                Directive::Retry { wait, .. } if failures + 1 < MAX_TRANSIENT_ATTEMPTS => {
                    failures += 1;
                    let retry_after = match wait {
                        Wait::Streak { retry_after } => retry_after,
                        Wait::Attempts => None,
                    };
                    let delay = backoff.delay(failures, retry_after);
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "history import: Bloomreach failed; retrying");
                    self.clock.sleep(delay).await;
                }
                Directive::Retry { .. } | Directive::Park { .. } => {
                    return Err(BackfillError::Bloomreach(error));
                }
                Directive::DeadLetter => return Ok(Err(error)),
            }
        }
    }

    /// The definition a crashed create call may have made: the one whose URL is `url`.
    async fn find_definition(
        &self,
        bloomreach: &BloomreachClient,
        backoff: &Backoff,
        url: &Url,
    ) -> Result<Option<String>, BackfillError> {
        let mut offset = 0u32;
        loop {
            let (page, total) = self
                .call(backoff, || bloomreach.list_imports(offset, LIST_PAGE))
                .await?
                .map_err(BackfillError::Bloomreach)?;
            if let Some(found) = page
                .iter()
                .find(|entry| entry.import_url.as_deref() == Some(url.as_str()))
            {
                return Ok(Some(found.import_id.clone()));
            }
            offset += page.len() as u32;
            if page.is_empty() || u64::from(offset) >= total {
                return Ok(None);
            }
        }
    }

    /// Reads the run until it is no longer running, waiting `poll_every` at first and twice
    /// as long each time up to a minute (on the clock).
    async fn follow(
        &self,
        bloomreach: &BloomreachClient,
        backoff: &Backoff,
        run: &ImportRun,
        settings: &ImportSettings,
    ) -> Result<ImportRunStatus, BackfillError> {
        let mut wait = settings.poll_every.max(Duration::from_millis(100));
        loop {
            let state = self
                .call(backoff, || bloomreach.import_state(&run.import_id))
                .await?
                .map_err(BackfillError::Bloomreach)?;
            match state.last_run {
                Some(last)
                    if matches!(
                        last.state,
                        ImportRunState::Finished | ImportRunState::Failed
                    ) =>
                {
                    return Ok(last);
                }
                Some(_) | None => {
                    self.clock.sleep(wait).await;
                    wait = (wait * 2).min(MAX_POLL);
                }
            }
        }
    }
}

fn fail(run: &mut ImportRun, reason: &str) {
    run.state = ImportRun::FAILED.to_owned();
    run.reason = Some(reason.to_owned());
}

/// Why a run that ended did not import everything, in Bloomreach's words.
fn run_reason(run: &ImportRunStatus) -> String {
    let errors = if run.errors.is_empty() {
        format!("Bloomreach reported the run as {}", run.status)
    } else {
        run.errors.join("; ")
    };
    if run.rows_failed > 0 {
        format!(
            "{} of {} rows failed: {errors}",
            run.rows_failed, run.rows_total
        )
    } else {
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bigreach_core::backfill::CsvSchema;

    #[test]
    fn every_definition_the_core_builds_is_a_typed_import_definition() {
        let ids = vec![
            "customer_id".to_owned(),
            "email_id".to_owned(),
            "phone_id".to_owned(),
        ];
        let source = UrlSource {
            url: "http://127.0.0.1:1/r/f.csv".to_owned(),
            username: FilesAccess::USERNAME.to_owned(),
            password: "pw".to_owned(),
        };
        for schema in [
            CsvSchema::events(FileKind::Purchases, &ids),
            CsvSchema::events(FileKind::PurchaseItems, &ids),
        ] {
            let body = definition(&schema, "f.csv", "products", Some(&source));
            let typed: ImportDefinition = serde_json::from_value(body).expect("typed");
            assert_eq!(typed.source.import_url, source.url);
            assert!(!format!("{typed:?}").contains("\"pw\""));
        }
    }

    #[test]
    fn a_failed_run_reads_as_bloomreachs_reason() {
        let run = ImportRunStatus {
            state: ImportRunState::Finished,
            status: "finished".to_owned(),
            rows_total: 10,
            rows_imported: 8,
            rows_failed: 2,
            errors: vec!["Row 3: bad".to_owned()],
        };
        assert_eq!(run_reason(&run), "2 of 10 rows failed: Row 3: bad");
        let url = Url::parse("https://files.example.com/br/").expect("url");
        let access = FilesAccess {
            run: "abc".to_owned(),
            password: "p".to_owned(),
        };
        assert_eq!(
            file_url(&url, &access, "purchases-0001.csv")
                .expect("joins")
                .as_str(),
            "https://files.example.com/br/abc/purchases-0001.csv"
        );
    }
}

//! The store and queue conformance suites (`gateway_store::conformance`) on both built-in
//! stores and their database queues: every test runs as `sqlite::name` and `postgres::name`,
//! each on a fresh database.

use async_trait::async_trait;
use gateway_store::conformance::{Fixture, StoreFactory};
use gateway_store::testing::{Backend, TestDatabase};

/// Fresh, migrated databases on one backend.
struct Fresh(Backend);

#[async_trait]
impl StoreFactory for Fresh {
    async fn fresh(&self) -> Fixture {
        let db = TestDatabase::create(self.0).await;
        let store = gateway_store::open(&db.url)
            .await
            .expect("a fresh database opens and migrates");
        Fixture {
            queue: store.clone().job_queue(),
            store,
            keep_alive: Box::new(db),
        }
    }
}

mod sqlite {
    use super::*;
    gateway_store::store_conformance_suite!(Fresh(Backend::Sqlite));
    gateway_store::queue_conformance_suite!(Fresh(Backend::Sqlite));
}

mod postgres {
    use super::*;
    gateway_store::store_conformance_suite!(Fresh(Backend::Postgres));
    gateway_store::queue_conformance_suite!(Fresh(Backend::Postgres));
}

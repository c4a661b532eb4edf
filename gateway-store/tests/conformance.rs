//! The store and queue conformance suites (`gateway_store::conformance`) on both built-in
//! stores and their database queues: every test runs as `sqlite::name` and `postgres::name`,
//! each on a fresh database. The queue suite runs on the Redis Streams queue over each store
//! too (`redis_sqlite::name`, `redis_postgres::name`), each under a Redis key prefix of its own.

use async_trait::async_trait;
use gateway_store::RedisQueueConfig;
use gateway_store::conformance::{Fixture, StoreFactory};
use gateway_store::testing::{Backend, TestDatabase, TestRedis};

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

/// Fresh databases on one backend, their jobs handed out by a Redis queue.
struct FreshWithRedis(Backend);

#[async_trait]
impl StoreFactory for FreshWithRedis {
    async fn fresh(&self) -> Fixture {
        let on_database = Fresh(self.0).fresh().await;
        let redis = TestRedis::create();
        let outbox = on_database
            .store
            .clone()
            .job_outbox()
            .expect("SQL stores are outboxes");
        let queue = redis.queue(outbox, RedisQueueConfig::default()).await;
        Fixture {
            queue: std::sync::Arc::new(queue),
            store: on_database.store,
            keep_alive: Box::new((redis, on_database.keep_alive)),
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

mod redis_sqlite {
    use super::*;
    gateway_store::store_conformance_suite!(FreshWithRedis(Backend::Sqlite));
    gateway_store::queue_conformance_suite!(FreshWithRedis(Backend::Sqlite));
}

mod redis_postgres {
    use super::*;
    gateway_store::store_conformance_suite!(FreshWithRedis(Backend::Postgres));
    gateway_store::queue_conformance_suite!(FreshWithRedis(Backend::Postgres));
}

/// Reads name their columns, so a statement prepared before another process adds a column (a
/// migration during a rolling upgrade) still reads rows afterwards. With `SELECT *` PostgreSQL
/// refuses the cached plan ("must not change result type") and sqlx's SQLite rows no longer
/// match the columns they were prepared with.
#[tokio::test]
async fn reads_survive_a_column_added_by_another_process() {
    use gateway_core::merchant::SecretHasher;
    use sqlx::Connection;

    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDatabase::create(backend).await;
        let store = gateway_store::open(&db.url).await.unwrap();
        store
            .upsert_merchant(
                &SecretHasher::new("pepper").test_merchant(gateway_store::conformance::T0),
            )
            .await
            .unwrap();
        let order = gateway_store::conformance::new_order();
        store.create_order(&order, None).await.unwrap();
        // Enough reads at once that every pooled connection prepares the statement.
        let read_all = || async {
            let mut reads = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let (store, merchant, id) = (store.clone(), order.merchant_id, order.id.clone());
                reads.spawn(async move { store.order(merchant, &id).await });
            }
            while let Some(read) = reads.join_next().await {
                let read = read.expect("the read does not panic");
                assert_eq!(
                    read.unwrap().map(|o| o.id),
                    Some(order.id.clone()),
                    "{backend:?}"
                );
            }
        };
        read_all().await;
        let widen = "ALTER TABLE orders ADD COLUMN added_by_a_later_release TEXT";
        match backend {
            Backend::Sqlite => {
                let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query(widen).execute(&mut other).await.unwrap();
            }
            Backend::Postgres => {
                let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query(widen).execute(&mut other).await.unwrap();
            }
        }
        read_all().await;
    }
}

//! The job queue under crashes: a dead worker's job is claimed again after its lease and
//! settled exactly once; a worker that lost its lease cannot settle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use tests::{TestApp, conformance};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

conformance! {
    async fn a_job_claimed_by_a_dead_worker_is_settled_once_after_its_lease_expires(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        app.set_webhook_url(&format!("{}/hook", server.uri())).await;
        let order = app.create_order(5000).await;
        let payment = app.create_upi_payment(&order, "success@paytm").await;
        app.run_jobs().await; // delivers payment.created and payment.pending only if due; the payment job is due too
        let settled_once = app.get(&format!("/api/v1/payments/{payment}")).await.json["status"].clone();
        assert_eq!(settled_once, "success");

        // A second payment whose job a worker claims and then dies with (never completes).
        let order = app.create_order(5000).await;
        let payment = app.create_upi_payment(&order, "success@paytm").await;
        let claimed = app
            .queue
            .claim_jobs("dead-worker", app.now(), Duration::from_secs(60), 10)
            .await
            .unwrap();
        assert!(claimed.iter().any(|j| j.entity_id == payment));

        let survivor = app.another_worker("survivor");
        survivor.clone().run_once().await;
        assert_eq!(
            app.get(&format!("/api/v1/payments/{payment}")).await.json["status"],
            "pending",
            "the lease still holds"
        );

        app.advance(Duration::from_secs(61));
        survivor.clone().run_once().await;
        app.run_jobs().await;
        assert_eq!(
            app.get(&format!("/api/v1/payments/{payment}")).await.json["status"],
            "success"
        );

        // Exactly one payment.success event for it, delivered once.
        let successes: Vec<_> = app
            .deliveries()
            .await
            .into_iter()
            .filter(|d| {
                d["event"] == "payment.success"
                    && d["payload"]["data"]["payment"]["id"] == payment.as_str()
            })
            .collect();
        assert_eq!(successes.len(), 1);
        let status = app.job_status().await;
        assert_eq!(
            (
                status["pending"].as_i64(),
                status["processing"].as_i64(),
                status["failed"].as_i64()
            ),
            (Some(0), Some(0), Some(0))
        );
    }
}

conformance! {
    async fn a_worker_task_aborted_mid_delivery_leaves_a_job_another_worker_finishes(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        app.set_webhook_url(&format!("{}/hook", server.uri())).await;
        let delivery = app.post("/api/v1/webhooks/test", json!({})).await.id();

        let doomed = app.another_worker("doomed");
        let task = tokio::spawn(doomed.clone().run_once());
        tokio::time::sleep(Duration::from_millis(300)).await; // let it claim and start the slow request
        task.abort();
        let _ = task.await;
        assert_eq!(
            app.job_status().await["processing"],
            1,
            "the aborted worker still holds the lease"
        );
        assert_eq!(app.run_jobs().await, 0);

        app.advance(Duration::from_secs(61));
        assert_eq!(app.run_jobs().await, 1);
        let detail = app.get(&format!("/api/v1/webhooks/{delivery}")).await.json;
        assert_eq!(detail["status"], "success");
        assert_eq!(detail["attempts"], 1);
        assert_eq!(app.job_status().await["processing"], 0);
    }
}

conformance! {
    async fn a_worker_whose_lease_was_taken_cannot_settle(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let order = app.create_order(5000).await;
        let payment = app.create_upi_payment(&order, "failure@paytm").await;
        let stale = app
            .queue
            .claim_jobs("slow-worker", app.now(), Duration::from_secs(60), 10)
            .await
            .unwrap();
        app.advance(Duration::from_secs(61));
        assert_eq!(
            app.run_jobs().await,
            1,
            "another worker rescues and settles the job"
        );
        let mut settled = app
            .store
            .payment(
                None,
                &gateway_core::ids::PaymentId::from_trusted(payment.clone()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(settled.status.as_str(), "failed");

        // The slow worker wakes up and tries to apply a different outcome under its old lease.
        settled.status = gateway_core::payment::PaymentStatus::Success;
        let result = app
            .store
            .settle_payment(&stale[0].lease, &settled, &[])
            .await;
        assert_eq!(result, Err(gateway_core::StoreError::LeaseLost));
        assert_eq!(
            app.get(&format!("/api/v1/payments/{payment}")).await.json["status"],
            "failed"
        );
    }
}

conformance! {
    async fn the_job_status_endpoint_needs_no_auth_and_reports_the_worker(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let status = app.job_status().await;
        for field in ["pending", "processing", "completed", "failed"] {
            assert!(status[field].is_i64(), "{field}: {status}");
        }
        assert_eq!(status["worker_status"], "stopped");
        app.store.heartbeat("worker-a", app.now()).await.unwrap();
        assert_eq!(app.job_status().await["worker_status"], "running");
        let order = app.create_order(1000).await;
        app.create_upi_payment(&order, "success@paytm").await;
        assert_eq!(app.job_status().await["pending"], 1);
        app.run_jobs().await;
        let status = app.job_status().await;
        assert_eq!(
            (status["pending"].as_i64(), status["completed"].as_i64()),
            (Some(0), Some(1))
        );
    }
}

conformance! {
    async fn health_reports_database_and_worker(backend: Backend) {
        let app = TestApp::spawn_on(backend).await;
        let health = app
            .send(axum::http::Method::GET, "/health", None, &[], Vec::new())
            .await;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.json["status"], "healthy");
        assert_eq!(health.json["database"], "connected");
        let ready = app
            .send(axum::http::Method::GET, "/ready", None, &[], Vec::new())
            .await;
        assert_eq!(ready.json["ready"], true);
    }
}

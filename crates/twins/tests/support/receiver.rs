//! A local webhook receiver for the BigCommerce twin's tests: answers with scripted statuses
//! and hands every delivery body to the test.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A local receiver answering with scripted statuses (the last one repeats).
pub async fn receiver(script: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let tx = tx.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    let script = script.clone();
                    async move {
                        let mut body = req.into_body();
                        let mut buf = Vec::new();
                        while let Some(Ok(frame)) = body.frame().await {
                            if let Ok(d) = frame.into_data() {
                                buf.extend_from_slice(&d);
                            }
                        }
                        let status = {
                            let mut s = script.lock();
                            if s.len() > 1 {
                                s.pop_front().unwrap_or(200)
                            } else {
                                s.front().copied().unwrap_or(200)
                            }
                        };
                        let _ = tx.send(serde_json::from_slice(&buf).unwrap_or(Value::Null));
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        *resp.status_mut() =
                            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/bc/webhooks"), rx)
}

/// Everything delivered so far (call after `webhooks_settled`).
pub fn drain(rx: &mut mpsc::UnboundedReceiver<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(v) = rx.try_recv() {
        out.push(v);
    }
    out
}

//! `kill -9` of `serve` and of `worker`, each several times at random moments under load.

use std::time::Duration;

use loadgen::fleet::{Fleet, Role};
use loadgen::{Session, record::Answer};
use tokio_util::sync::CancellationToken;

use crate::Stage;

/// Until `stop`: waits a random 0.6–1.8 s, kills the next victim in turn with SIGKILL, leaves it
/// down up to 0.3 s (webhooks meanwhile are refused, its running jobs stranded mid-lease) and
/// starts it again.
async fn kill_at_random(fleet: &mut Fleet, victims: &[usize], stop: &CancellationToken, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for victim in victims.iter().cycle() {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(rng.u64(600..1_800))) => {}
        }
        fleet.kill(*victim).await.unwrap();
        tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await;
        fleet.restart(*victim).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_serve_and_worker_at_random_loses_and_doubles_nothing() {
    let mut stage = Stage::new("crash").await;
    let serve = stage.serve(false).await;
    let worker = stage.fleet.add(Role::Worker).await.unwrap();
    let seed = fastrand::u64(..);
    eprintln!("crash test: kill schedule seed {seed}");

    let session = Session::start(stage.load(stage.target(&[serve]), 120.0, 12, seed))
        .await
        .unwrap();
    let (stop, victims) = (CancellationToken::new(), [serve, worker]);
    let (sent, ()) = tokio::join!(
        async {
            let sent = session.send().await;
            stop.cancel();
            sent
        },
        kill_at_random(&mut stage.fleet, &victims, &stop, seed),
    );
    let kills = victims.map(|v| stage.fleet.counts(v).1);
    assert!(
        kills.iter().all(|&k| k >= 2),
        "each process killed several times: {kills:?}"
    );
    // While `serve` was down, webhooks were refused (the provider would retry them); many were
    // accepted around the kills.
    let refused = sent
        .record
        .events
        .iter()
        .filter(|e| matches!(e.answer, Answer::Transport { .. }))
        .count();
    let accepted = sent.record.accepted().count();
    eprintln!("crash test: {kills:?} kills; {accepted} accepted, {refused} refused while down");
    assert!(accepted > 500, "{accepted} accepted");

    let outcome = session.finish(sent).await;
    stage.assert_promises_kept(&outcome).await;
    stage.fleet.stop().await.unwrap();
}

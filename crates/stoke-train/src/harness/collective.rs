//! The collectives data parallelism needs, behind one small interface: all-reduce (sum and
//! mean) and all-gather over `f32` buffers, broadcast of bytes, a barrier, and the ring's
//! send/receive. Three implementations: [`Single`] (one process, the identity), [`Threads`]
//! (one rank per thread in one process, for several devices in one box) and, behind the
//! trainer's `mpi` feature, `Mpi` (one rank per process, across machines, over Open MPI).
//!
//! Design decision: no call blocks for ever. Every call waits at most the group's timeout
//! (`STOKE_DISTRIBUTED_TIMEOUT` seconds, 300 by default) for the other ranks; past it a
//! [`Threads`] rank returns [`TrainError::Distributed`] naming the ranks it waited for, and an
//! MPI rank (whose calls cannot be interrupted) prints the same and exits, which makes
//! `mpirun` stop the job. A rank that fails leaves the group ([`Group::fail`]) so the others
//! stop at once instead of at the timeout.

use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Result, TrainError};

/// The default seconds a rank waits for the others in one collective call.
pub const DEFAULT_TIMEOUT_S: f64 = 300.0;

/// The environment variable that overrides [`DEFAULT_TIMEOUT_S`].
pub const TIMEOUT_VAR: &str = "STOKE_DISTRIBUTED_TIMEOUT";

/// The timeout from [`TIMEOUT_VAR`], or the default.
///
/// # Errors
/// A value that is not a positive number of seconds.
pub fn timeout_from_env() -> Result<Duration> {
    match std::env::var(TIMEOUT_VAR) {
        Err(_) => Ok(Duration::from_secs_f64(DEFAULT_TIMEOUT_S)),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(TrainError::Invalid(format!(
                "{TIMEOUT_VAR}='{text}' is not a positive number of seconds"
            ))),
        },
    }
}

/// A stable 64-bit hash (FNV-1a) of `bytes`, the same on every machine and build.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Collective operations among the ranks of one training job. Every rank calls the same
/// operations in the same order (the ring's [`Collective::send_receive`] included).
pub trait Collective {
    /// This rank, `0..ranks`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn ranks(&self) -> usize;

    /// What runs the group, for messages (`"mpi"`, `"threads"`).
    fn kind(&self) -> &'static str;

    /// Whether the ranks share one process (and so Burn's per-process generators).
    fn shares_process(&self) -> bool {
        false
    }

    /// This rank's index among the ranks on its machine (which GPU it takes).
    fn local_rank(&self) -> usize {
        self.rank()
    }

    /// Replaces `buffer` by its elementwise sum over the ranks (the same on every rank).
    ///
    /// # Errors
    /// A rank left or timed out.
    fn all_reduce_sum(&self, buffer: &mut [f32]) -> Result<()>;

    /// Every rank's `mine`, concatenated in rank order (every rank gives the same length).
    ///
    /// # Errors
    /// A rank left or timed out; lengths differ.
    fn all_gather(&self, mine: &[f32]) -> Result<Vec<f32>>;

    /// Replaces `bytes` on every rank by `root`'s.
    ///
    /// # Errors
    /// A rank left or timed out.
    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()>;

    /// Waits for every rank.
    ///
    /// # Errors
    /// A rank left or timed out.
    fn barrier(&self) -> Result<()>;

    /// Sends `send` to rank `dest` and fills `receive` from rank `source` (a step of a ring
    /// in which every rank sends and receives at once).
    ///
    /// # Errors
    /// A rank left or timed out; a message of another length.
    fn send_receive(
        &self,
        send: &[f32],
        dest: usize,
        receive: &mut [f32],
        source: usize,
    ) -> Result<()>;

    /// This rank failed: the others stop instead of waiting for it (MPI aborts the job).
    fn fail(&self);
}

/// A handle on the collective of this rank (cheap to clone, not shared across threads).
#[derive(Clone)]
pub struct Group(Rc<dyn Collective>);

impl Group {
    /// One process alone.
    pub fn single() -> Self {
        Self(Rc::new(Single))
    }

    /// Wraps a collective.
    pub fn new(collective: impl Collective + 'static) -> Self {
        Self(Rc::new(collective))
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.0.rank()
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.0.ranks()
    }

    /// Whether this rank writes the run directory (rank 0).
    pub fn is_primary(&self) -> bool {
        self.rank() == 0
    }

    /// See [`Collective::local_rank`].
    pub fn local_rank(&self) -> usize {
        self.0.local_rank()
    }

    /// Whether the ranks share one process.
    pub fn shares_process(&self) -> bool {
        self.0.shares_process()
    }

    /// Whether more than one rank trains.
    pub fn is_distributed(&self) -> bool {
        self.ranks() > 1
    }

    /// See [`Collective::all_reduce_sum`].
    ///
    /// # Errors
    /// As there.
    pub fn all_reduce_sum(&self, buffer: &mut [f32]) -> Result<()> {
        if self.is_distributed() { self.0.all_reduce_sum(buffer) } else { Ok(()) }
    }

    /// The elementwise mean over the ranks.
    ///
    /// # Errors
    /// As [`Collective::all_reduce_sum`].
    pub fn all_reduce_mean(&self, buffer: &mut [f32]) -> Result<()> {
        if self.is_distributed() {
            self.all_reduce_sum(buffer)?;
            let n = self.ranks() as f32;
            buffer.iter_mut().for_each(|v| *v /= n);
        }
        Ok(())
    }

    /// See [`Collective::all_gather`].
    ///
    /// # Errors
    /// As there.
    pub fn all_gather(&self, mine: &[f32]) -> Result<Vec<f32>> {
        self.0.all_gather(mine)
    }

    /// See [`Collective::broadcast`].
    ///
    /// # Errors
    /// As there.
    pub fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        if self.is_distributed() { self.0.broadcast(bytes, root) } else { Ok(()) }
    }

    /// See [`Collective::barrier`].
    ///
    /// # Errors
    /// As there.
    pub fn barrier(&self) -> Result<()> {
        if self.is_distributed() { self.0.barrier() } else { Ok(()) }
    }

    /// See [`Collective::send_receive`].
    ///
    /// # Errors
    /// As there.
    pub fn send_receive(
        &self,
        send: &[f32],
        dest: usize,
        receive: &mut [f32],
        source: usize,
    ) -> Result<()> {
        self.0.send_receive(send, dest, receive, source)
    }

    /// See [`Collective::fail`].
    pub fn fail(&self) {
        self.0.fail();
    }

    /// Checks that every rank holds the same 64-bit `value` (a config hash); the error names
    /// the ranks that differ from rank 0.
    ///
    /// # Errors
    /// Ranks disagree (`what` names the value); a collective failure.
    pub fn agree(&self, value: u64, what: &str) -> Result<()> {
        if !self.is_distributed() {
            return Ok(());
        }
        // Four exact 16-bit pieces per rank (an f32 holds any integer below 2^24).
        let pieces: Vec<f32> = (0..4).map(|i| ((value >> (16 * i)) & 0xFFFF) as f32).collect();
        let all = self.all_gather(&pieces)?;
        let differ: Vec<usize> =
            (1..self.ranks()).filter(|r| all[4 * r..4 * r + 4] != all[..4]).collect();
        if differ.is_empty() {
            Ok(())
        } else {
            Err(TrainError::Distributed(format!(
                "ranks {differ:?} hold a different {what} than rank 0 (check that every rank \
                 runs the same build, arguments and data files)"
            )))
        }
    }
}

/// The ranks as SigLIP's ring exchange ([`stoke_contrastive::Exchange`]): every block has
/// the sender's length (the ranks hold equal shares).
impl stoke_contrastive::Exchange for Group {
    fn rank(&self) -> usize {
        Group::rank(self)
    }

    fn ranks(&self) -> usize {
        Group::ranks(self)
    }

    fn send_receive(
        &self,
        send: &[f32],
        to: usize,
        from: usize,
    ) -> std::result::Result<Vec<f32>, String> {
        let mut receive = vec![0.0; send.len()];
        Group::send_receive(self, send, to, &mut receive, from).map_err(|e| e.to_string())?;
        Ok(receive)
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rank {} of {}", self.0.kind(), self.rank(), self.ranks())
    }
}

impl Default for Group {
    fn default() -> Self {
        Self::single()
    }
}

/// One process alone: every collective is the identity.
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn ranks(&self) -> usize {
        1
    }
    fn kind(&self) -> &'static str {
        "single"
    }
    fn all_reduce_sum(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn all_gather(&self, mine: &[f32]) -> Result<Vec<f32>> {
        Ok(mine.to_vec())
    }
    fn broadcast(&self, _: &mut Vec<u8>, _: usize) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn send_receive(&self, send: &[f32], _: usize, receive: &mut [f32], _: usize) -> Result<()> {
        copy_exact(send, receive, 0)
    }
    fn fail(&self) {}
}

fn copy_exact(from: &[f32], to: &mut [f32], source: usize) -> Result<()> {
    if from.len() != to.len() {
        return Err(TrainError::Distributed(format!(
            "rank {source} sent {} values where {} were expected",
            from.len(),
            to.len()
        )));
    }
    to.copy_from_slice(from);
    Ok(())
}

/// What one rank puts on the table in one round of [`Threads`].
#[derive(Clone, Default)]
struct Payload {
    floats: Vec<f32>,
    bytes: Vec<u8>,
    dest: usize,
}

#[derive(Default)]
struct Table {
    slots: Vec<Option<Payload>>,
    /// Ranks that have read this round's table.
    read: usize,
    /// Whether every rank has put its payload down (the table is being read).
    reading: bool,
    round: u64,
    departed: Vec<bool>,
}

struct Shared {
    table: Mutex<Table>,
    changed: Condvar,
    timeout: Duration,
}

/// One rank per thread of one process: each round every rank puts its payload on a shared
/// table, waits for the others, reads what it needs and waits until all have read. Sums run
/// in rank order, so every rank gets bit-identical results. Tensors travel through host
/// memory (the several-devices-in-one-box pattern: each rank's device reads its share back).
pub struct Threads {
    rank: usize,
    ranks: usize,
    shared: Arc<Shared>,
}

impl Threads {
    /// `ranks` handles (rank 0 first), one for each thread, waiting at most `timeout` for
    /// one another in any call.
    pub fn group(ranks: usize, timeout: Duration) -> Vec<Threads> {
        let table =
            Table { slots: vec![None; ranks], departed: vec![false; ranks], ..Table::default() };
        let shared =
            Arc::new(Shared { table: Mutex::new(table), changed: Condvar::new(), timeout });
        (0..ranks).map(|rank| Threads { rank, ranks, shared: shared.clone() }).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.shared.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` holds, failing on a departed rank in `missing`'s answer or the
    /// timeout.
    fn wait<'a>(
        &self,
        mut table: MutexGuard<'a, Table>,
        op: &str,
        ready: impl Fn(&Table) -> bool,
        missing: impl Fn(&Table) -> Vec<usize>,
    ) -> Result<MutexGuard<'a, Table>> {
        let deadline = Instant::now() + self.shared.timeout;
        while !ready(&table) {
            let gone: Vec<usize> =
                missing(&table).into_iter().filter(|&r| table.departed[r]).collect();
            if !gone.is_empty() {
                return Err(TrainError::Distributed(format!(
                    "rank {}: rank(s) {gone:?} left the job during {op}",
                    self.rank
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TrainError::Distributed(format!(
                    "rank {}: no answer from rank(s) {:?} within {:.0} s during {op} (a rank \
                     hangs or died; resume from the last checkpoint with --resume)",
                    self.rank,
                    missing(&table),
                    self.shared.timeout.as_secs_f64()
                )));
            }
            table = self
                .shared
                .changed
                .wait_timeout(table, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(table)
    }

    /// One round: puts `mine` down, then returns `read(all payloads)`.
    fn round<T>(
        &self,
        op: &str,
        mine: Payload,
        read: impl FnOnce(&[Option<Payload>]) -> T,
    ) -> Result<T> {
        let n = self.ranks;
        let pending = |t: &Table| (0..n).filter(|&r| t.slots[r].is_none()).collect::<Vec<_>>();
        // The previous round must be read by everyone before its table is cleared; a rank
        // that has left will never read it, nor join another round.
        let departed = |t: &Table| (0..n).filter(|&r| t.departed[r]).collect::<Vec<_>>();
        let mut table = self.wait(self.lock(), op, |t| !t.reading, departed)?;
        table.slots[self.rank] = Some(mine);
        if table.slots.iter().all(Option::is_some) {
            table.reading = true;
            self.shared.changed.notify_all();
        }
        let round = table.round;
        let mut table = self.wait(table, op, |t| t.reading && t.round == round, pending)?;
        let out = read(&table.slots);
        table.read += 1;
        if table.read == n {
            table.slots.iter_mut().for_each(|s| *s = None);
            table.read = 0;
            table.reading = false;
            table.round += 1;
            self.shared.changed.notify_all();
        }
        Ok(out)
    }
}

fn payload(slot: &Option<Payload>) -> &Payload {
    slot.as_ref().expect("every slot is full while the table is read")
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn kind(&self) -> &'static str {
        "threads"
    }

    fn shares_process(&self) -> bool {
        true
    }

    fn all_reduce_sum(&self, buffer: &mut [f32]) -> Result<()> {
        let mine = Payload { floats: buffer.to_vec(), ..Payload::default() };
        let len = buffer.len();
        let sum = self.round("all-reduce", mine, |slots| {
            let mut sum = vec![0.0f32; len];
            for slot in slots {
                let floats = &payload(slot).floats;
                if floats.len() != len {
                    return None;
                }
                sum.iter_mut().zip(floats).for_each(|(s, v)| *s += v);
            }
            Some(sum)
        })?;
        let sum = sum.ok_or_else(|| {
            TrainError::Distributed("all-reduce: ranks gave buffers of different lengths".into())
        })?;
        buffer.copy_from_slice(&sum);
        Ok(())
    }

    fn all_gather(&self, mine: &[f32]) -> Result<Vec<f32>> {
        let len = mine.len();
        let mine = Payload { floats: mine.to_vec(), ..Payload::default() };
        let all = self.round("all-gather", mine, |slots| {
            let all: Vec<f32> = slots.iter().flat_map(|s| payload(s).floats.clone()).collect();
            (all.len() == len * slots.len()).then_some(all)
        })?;
        all.ok_or_else(|| {
            TrainError::Distributed("all-gather: ranks gave buffers of different lengths".into())
        })
    }

    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        let mine = Payload {
            bytes: if self.rank == root { bytes.clone() } else { Vec::new() },
            ..Payload::default()
        };
        *bytes = self.round("broadcast", mine, |slots| payload(&slots[root]).bytes.clone())?;
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.round("barrier", Payload::default(), |_| ())
    }

    fn send_receive(
        &self,
        send: &[f32],
        dest: usize,
        receive: &mut [f32],
        source: usize,
    ) -> Result<()> {
        let mine = Payload { floats: send.to_vec(), dest, ..Payload::default() };
        let rank = self.rank;
        let got = self.round("send/receive", mine, |slots| {
            let from = payload(&slots[source]);
            (from.dest == rank).then(|| from.floats.clone())
        })?;
        let got = got.ok_or_else(|| {
            TrainError::Distributed(format!(
                "send/receive: rank {source} did not send to rank {rank} in this round"
            ))
        })?;
        copy_exact(&got, receive, source)
    }

    fn fail(&self) {
        let mut table = self.lock();
        table.departed[self.rank] = true;
        // A payload left on a table that is still filling would complete a round for the
        // others with this rank's stale data.
        if !table.reading {
            table.slots[self.rank] = None;
        }
        self.shared.changed.notify_all();
    }
}

impl Drop for Threads {
    /// A rank whose thread ends (finished, failed or panicked) has left: a collective the
    /// others still wait in fails at once.
    fn drop(&mut self) {
        self.fail();
    }
}

#[cfg(feature = "mpi")]
pub use self::mpi_ranks::Mpi;

#[cfg(feature = "mpi")]
mod mpi_ranks {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
    use mpi::environment::Universe;
    use mpi::point_to_point::send_receive_into;
    use mpi::topology::{Communicator, SimpleCommunicator};

    use super::{Collective, copy_exact};
    use crate::error::{Result, TrainError};

    /// One rank per process over MPI (launched by `mpirun`). MPI calls cannot be cancelled,
    /// so a watchdog thread ends the process when one call outlasts the timeout; `mpirun`
    /// then stops the others.
    pub struct Mpi {
        // Dropped last: finalising MPI.
        world: SimpleCommunicator,
        watch: Arc<Watch>,
        _universe: Universe,
    }

    /// The deadline of the call in progress (milliseconds since `start`; 0 when none) and
    /// its name.
    struct Watch {
        start: Instant,
        deadline_ms: AtomicU64,
        op: std::sync::Mutex<&'static str>,
        rank: usize,
        timeout: Duration,
    }

    impl Mpi {
        /// Joins the job `mpirun` started.
        ///
        /// # Errors
        /// MPI was initialised already in this process.
        pub fn init(timeout: Duration) -> Result<Self> {
            let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
                .ok_or_else(|| {
                    TrainError::Distributed("MPI was already initialised in this process".into())
                })?;
            let world = universe.world();
            let watch = Arc::new(Watch {
                start: Instant::now(),
                deadline_ms: AtomicU64::new(0),
                op: std::sync::Mutex::new(""),
                rank: world.rank() as usize,
                timeout,
            });
            let watcher = watch.clone();
            std::thread::spawn(move || watcher.run());
            Ok(Self { world, watch, _universe: universe })
        }

        fn guarded<T>(&self, op: &'static str, call: impl FnOnce() -> T) -> T {
            *self.watch.op.lock().unwrap_or_else(|e| e.into_inner()) = op;
            let deadline = self.watch.start.elapsed() + self.watch.timeout;
            self.watch.deadline_ms.store(deadline.as_millis() as u64 + 1, Ordering::SeqCst);
            let out = call();
            self.watch.deadline_ms.store(0, Ordering::SeqCst);
            out
        }
    }

    impl Watch {
        fn run(&self) {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let deadline = self.deadline_ms.load(Ordering::SeqCst);
                if deadline != 0 && self.start.elapsed().as_millis() as u64 > deadline {
                    let op = *self.op.lock().unwrap_or_else(|e| e.into_inner());
                    eprintln!(
                        "error: rank {}: no answer from the other ranks within {:.0} s during \
                         {op} (a rank hangs or died, or a host is unreachable); stopping the \
                         job (resume from the last checkpoint with --resume)",
                        self.rank,
                        self.timeout.as_secs_f64()
                    );
                    std::process::exit(124);
                }
            }
        }
    }

    impl Collective for Mpi {
        fn rank(&self) -> usize {
            self.world.rank() as usize
        }

        fn ranks(&self) -> usize {
            self.world.size() as usize
        }

        fn kind(&self) -> &'static str {
            "mpi"
        }

        /// Open MPI's rank among this machine's processes.
        fn local_rank(&self) -> usize {
            std::env::var("OMPI_COMM_WORLD_LOCAL_RANK")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or_else(|| self.rank())
        }

        fn all_reduce_sum(&self, buffer: &mut [f32]) -> Result<()> {
            if buffer.is_empty() {
                return self.barrier();
            }
            let send = buffer.to_vec();
            self.guarded("all-reduce", || {
                self.world.all_reduce_into(&send[..], buffer, SystemOperation::sum());
            });
            Ok(())
        }

        fn all_gather(&self, mine: &[f32]) -> Result<Vec<f32>> {
            // Lengths first, so a mismatch is an error and not undefined behaviour.
            let mut lengths = vec![0u64; self.ranks()];
            self.guarded("all-gather", || {
                self.world.all_gather_into(&(mine.len() as u64), &mut lengths[..]);
            });
            if lengths.iter().any(|&l| l != mine.len() as u64) {
                return Err(TrainError::Distributed(format!(
                    "all-gather: ranks gave buffers of lengths {lengths:?}"
                )));
            }
            if mine.is_empty() {
                return Ok(Vec::new());
            }
            let mut all = vec![0.0f32; mine.len() * self.ranks()];
            self.guarded("all-gather", || self.world.all_gather_into(mine, &mut all[..]));
            Ok(all)
        }

        fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
            let process = self.world.process_at_rank(root as i32);
            let mut len = bytes.len() as u64;
            self.guarded("broadcast", || process.broadcast_into(&mut len));
            bytes.resize(len as usize, 0);
            // MPI refuses the dangling pointer of an empty buffer.
            if len > 0 {
                self.guarded("broadcast", || process.broadcast_into(&mut bytes[..]));
            }
            Ok(())
        }

        fn barrier(&self) -> Result<()> {
            self.guarded("barrier", || self.world.barrier());
            Ok(())
        }

        fn send_receive(
            &self,
            send: &[f32],
            dest: usize,
            receive: &mut [f32],
            source: usize,
        ) -> Result<()> {
            let mut got = vec![0.0f32; receive.len()];
            let (to, from) = (
                self.world.process_at_rank(dest as i32),
                self.world.process_at_rank(source as i32),
            );
            let status =
                self.guarded("send/receive", || send_receive_into(send, &to, &mut got[..], &from));
            let count = status.count(<f32 as mpi::datatype::Equivalence>::equivalent_datatype());
            if count as usize != receive.len() {
                return Err(TrainError::Distributed(format!(
                    "rank {source} sent {count} values where {} were expected",
                    receive.len()
                )));
            }
            copy_exact(&got, receive, source)
        }

        fn fail(&self) {
            self.world.abort(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `body(group)` on `n` rank threads and returns each rank's result, rank 0 first.
    fn on_threads<T: Send + 'static>(
        n: usize,
        timeout_s: f64,
        body: impl Fn(Group) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let body = Arc::new(body);
        let handles: Vec<_> = Threads::group(n, Duration::from_secs_f64(timeout_s))
            .into_iter()
            .map(|rank| {
                let body = body.clone();
                std::thread::spawn(move || body(Group::new(rank)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn thread_ranks_reduce_gather_broadcast_and_pass_round_a_ring() {
        let out = on_threads(3, 10.0, |g| {
            let r = g.rank() as f32;
            let mut sum = vec![r, 10.0 * r, 1.0];
            g.all_reduce_sum(&mut sum).unwrap();
            let mut mean = vec![r];
            g.all_reduce_mean(&mut mean).unwrap();
            let gathered = g.all_gather(&[r, -r]).unwrap();
            let mut bytes = if g.rank() == 2 { b"from two".to_vec() } else { b"junk".to_vec() };
            g.broadcast(&mut bytes, 2).unwrap();
            g.barrier().unwrap();
            // Two rounds of the ring, to the right: each receives its left neighbour's.
            let n = g.ranks();
            let mut got = vec![0.0; 2];
            g.send_receive(&[r, r], (g.rank() + 1) % n, &mut got, (g.rank() + n - 1) % n).unwrap();
            let mut again = vec![0.0; 2];
            g.send_receive(&got, (g.rank() + 1) % n, &mut again, (g.rank() + n - 1) % n).unwrap();
            (sum, mean, gathered, bytes, got, again)
        });
        for (rank, (sum, mean, gathered, bytes, got, again)) in out.into_iter().enumerate() {
            assert_eq!(sum, vec![3.0, 30.0, 3.0]);
            assert_eq!(mean, vec![1.0]);
            assert_eq!(gathered, vec![0.0, -0.0, 1.0, -1.0, 2.0, -2.0]);
            assert_eq!(bytes, b"from two");
            let left = ((rank + 2) % 3) as f32;
            let left2 = ((rank + 1) % 3) as f32;
            assert_eq!(got, vec![left, left]);
            assert_eq!(again, vec![left2, left2]);
        }
    }

    #[test]
    fn a_silent_rank_times_out_and_a_departed_one_fails_fast() {
        let out = on_threads(2, 0.3, |g| {
            if g.rank() == 1 {
                // Alive but silent past the timeout.
                std::thread::sleep(Duration::from_millis(900));
                return Ok(());
            }
            g.barrier()
        });
        let message = out[0].as_ref().unwrap_err().to_string();
        assert!(message.contains("no answer from rank(s) [1]"), "{message}");

        let started = Instant::now();
        let out = on_threads(3, 30.0, |g| {
            if g.rank() == 2 {
                g.fail();
                return Ok(());
            }
            g.barrier()
        });
        assert!(started.elapsed() < Duration::from_secs(10), "a departed rank stalls the others");
        for result in &out[..2] {
            // Rank 2 left; the other survivor may have left too by the time one looks.
            let message = result.as_ref().unwrap_err().to_string();
            assert!(message.contains("2] left the job"), "{message}");
        }
    }

    #[test]
    fn ranks_that_disagree_are_named() {
        let out = on_threads(3, 10.0, |g| {
            let hash = if g.rank() == 1 { 7u64 << 40 } else { 0xDEAD_BEEF_u64 };
            g.agree(hash, "config").map_err(|e| e.to_string())
        });
        for result in out {
            let message = result.unwrap_err();
            assert!(message.contains("ranks [1]"), "{message}");
        }
        let out = on_threads(2, 10.0, |g| g.agree(u64::MAX, "config").is_ok());
        assert_eq!(out, vec![true, true]);
    }
}

//! Transaction-set walks on worker threads. The envelope engine stays on the reading thread and
//! records each set's segments (copied bytes plus what to do with them) into a job; workers
//! replay jobs through a `SetWalker` and send back one `Outcome` per set. The engine takes
//! outcomes strictly in set order, so a sink sees exactly what a single-threaded run gives.
//! With a `SetWork` (translate), a worker also holds each set it accepts as a `SetTree` and runs
//! the work on it, so mapping happens where the walk did. Owns no envelope state and never talks
//! to a sink.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::Scope;

use super::envelope::{GroupInfo, IsaInfo};
use super::grammar::{Dictionary, SetGrammar};
use super::lexer::Delimiters;
use super::tree::{SetTree, TreeBuilder};
use super::validate::{Leniency, SegmentIssue, SetWalker, Spare};

/// What a set's work gives back, taken by the sink's `set_done_with` (which knows its type).
pub type SetOutput = Box<dyn Any + Send>;

/// Work done on a worker thread with each set that the walk and the envelope checks accept
/// (accepted with errors included), held whole as a `SetTree`.
pub trait SetWork: Sync {
    fn accepted(&self, tree: SetTree, ctx: &SetContext) -> SetOutput;
}

/// The envelope a set was read in, shared by the sets of a group.
pub struct SetContext {
    pub isa: IsaInfo,
    pub gs: GroupInfo,
}

/// How `envelope::check_with` spreads set walks over threads.
#[derive(Debug, Clone, Copy)]
pub struct Parallel {
    /// Worker threads; below 1 every set is walked on the reading thread.
    pub workers: usize,
    /// A job is sent once it holds this many bytes of segments (amortizes channel traffic).
    pub job_bytes: usize,
    /// A set larger than this is walked on the reading thread instead, so memory stays bounded
    /// by the buffer, not by the largest set.
    pub max_set_bytes: usize,
}

impl Parallel {
    pub const OFF: Parallel = Parallel {
        workers: 0,
        job_bytes: 0,
        max_set_bytes: 0,
    };

    /// One worker per core; none on a single core, where threads only add overhead.
    pub fn auto() -> Parallel {
        let cores = cores();
        Parallel {
            workers: if cores > 1 { cores } else { 0 },
            job_bytes: 256 * 1024,
            max_set_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The number of cores, looked up once for the whole process: `available_parallelism` reads
/// cgroup files (three opens and a `sched_getaffinity`) on every call, and the pipeline asks
/// for every batch and every document it checks.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// What a walker concluded about one set.
pub struct Outcome {
    pub issues: Vec<SegmentIssue>,
    pub warnings: Vec<String>,
    pub truncated: bool,
    pub rejects: bool,
    /// What the `SetWork` made of the set, when there is one and the set was accepted.
    pub output: Option<SetOutput>,
}

impl Outcome {
    pub fn of(w: SetWalker<'_>) -> Outcome {
        let rejects = w.rejects();
        Outcome {
            issues: w.issues,
            warnings: w.warnings,
            truncated: w.truncated,
            rejects,
            output: None,
        }
    }
}

/// One recorded walker call; byte ranges index the job's buffer.
enum Op {
    Header {
        start: usize,
        end: usize,
        offset: u64,
    },
    Segment {
        start: usize,
        end: usize,
        position: u32,
        offset: u64,
    },
    Warning(String),
    Finish {
        position: u32,
        offset: u64,
    },
    FinishWithoutTrailer {
        position: u32,
        offset: u64,
    },
}

struct JobSet<'g> {
    grammar: &'g SetGrammar,
    dict: &'g Dictionary,
    lenient: Leniency,
    delimiters: Delimiters,
    /// Ops of this set run from the previous set's end to here.
    ops_end: usize,
    /// Where the set's bytes start in the job buffer (for its size).
    bytes_start: usize,
    /// With a `SetWork`: the set's envelope; the work runs only once `ids` are there too.
    ctx: Option<Arc<SetContext>>,
    /// ST01 and ST02, given by `end_set` when the envelope checks found nothing against the set.
    ids: Option<(String, String)>,
}

struct Job<'g> {
    id: u64,
    bytes: Vec<u8>,
    ops: Vec<Op>,
    sets: Vec<JobSet<'g>>,
}

impl<'g> Job<'g> {
    fn new(id: u64, capacity: usize) -> Self {
        Job {
            id,
            // Room past `capacity` for the set that crosses it (the job is sent after that
            // set): growing a block this large copies it.
            bytes: Vec::with_capacity(capacity + capacity / 4),
            // Segments average a few dozen bytes; sized up front, the op list is not copied
            // by growing (a realloc of a large block copies it).
            ops: Vec::with_capacity(capacity / 24),
            sets: Vec::new(),
        }
    }

    /// A returned job's buffers, emptied for the next one: no allocation or fresh pages per job.
    fn reuse(mut self, id: u64) -> Job<'g> {
        self.id = id;
        self.bytes.clear();
        self.ops.clear();
        self.sets.clear();
        self
    }
}

/// Where a closed set's outcome will come from.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    job: u64,
}

/// The reading thread's side: the job being filled, the senders, and outcomes received early.
pub struct Pool<'g> {
    config: Parallel,
    /// One queue all workers take from: a worker sharing its core with the reading thread
    /// takes fewer jobs instead of holding up the others (round-robin did).
    jobs: Sender<Job<'g>>,
    workers: usize,
    results: Receiver<(Job<'g>, Vec<Outcome>)>,
    building: Job<'g>,
    /// Jobs the workers are done with, kept for their buffers.
    free: Vec<Job<'g>>,
    in_flight: usize,
    /// Outcomes received early, by job id: no more than the jobs in flight, so a short list
    /// looked through instead of a map that hashed the id twice per set.
    received: Vec<(u64, VecDeque<Outcome>)>,
    has_work: bool,
    /// Where the set being recorded starts in the job being filled (its last `JobSet`'s
    /// `bytes_start`, kept at hand: the engine asks for the set's size after every segment).
    set_start: usize,
}

impl<'g> Pool<'g> {
    /// Starts `config.workers` walkers in `scope`; they end when the pool is dropped.
    /// With `work`, workers also run it on every set they accept (see `SetWork`).
    pub fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        config: Parallel,
        work: Option<&'g dyn SetWork>,
    ) -> Pool<'g>
    where
        'g: 'scope,
    {
        let (out, results) = mpsc::channel();
        let (jobs, queue) = mpsc::channel::<Job<'g>>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = config.workers.max(1);
        for _ in 0..workers {
            let out = out.clone();
            let queue = Arc::clone(&queue);
            scope.spawn(move || run_jobs(&queue, out, work));
        }
        Pool {
            config,
            jobs,
            workers,
            results,
            building: Job::new(0, config.job_bytes),
            free: Vec::new(),
            in_flight: 0,
            received: Vec::new(),
            has_work: work.is_some(),
            set_start: 0,
        }
    }

    /// Whether workers run a `SetWork` (sets then need `SetContext`s and ids).
    pub fn has_work(&self) -> bool {
        self.has_work
    }

    /// Starts recording a set whose ST segment is `raw`; `ctx` is its envelope when the pool
    /// has a `SetWork`.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_set(
        &mut self,
        grammar: &'g SetGrammar,
        dict: &'g Dictionary,
        lenient: Leniency,
        delimiters: Delimiters,
        raw: &[u8],
        offset: u64,
        ctx: Option<Arc<SetContext>>,
    ) {
        let job = &mut self.building;
        let bytes_start = job.bytes.len();
        self.set_start = bytes_start;
        job.sets.push(JobSet {
            grammar,
            dict,
            lenient,
            delimiters,
            ops_end: usize::MAX,
            bytes_start,
            ctx,
            ids: None,
        });
        job.bytes.extend_from_slice(raw);
        job.ops.push(Op::Header {
            start: bytes_start,
            end: job.bytes.len(),
            offset,
        });
    }

    /// Records one segment of the set. In line: the engine calls it for every segment read.
    #[inline(always)]
    pub fn segment(&mut self, raw: &[u8], position: u32, offset: u64) {
        let job = &mut self.building;
        let start = job.bytes.len();
        job.bytes.extend_from_slice(raw);
        job.ops.push(Op::Segment {
            start,
            end: job.bytes.len(),
            position,
            offset,
        });
    }

    pub fn warning(&mut self, message: String) {
        self.building.ops.push(Op::Warning(message));
    }

    /// Bytes recorded so far for the set being recorded (asked only while one is).
    pub fn current_set_bytes(&self) -> usize {
        self.building.bytes.len().saturating_sub(self.set_start)
    }

    /// Ends the set being recorded; its outcome is fetched later with `outcome`. `ids` (ST01,
    /// ST02) are given when the envelope checks found nothing against the set, so that a
    /// `SetWork` may run on it if the walk accepts it too.
    pub fn end_set(
        &mut self,
        position: u32,
        offset: u64,
        trailer_missing: bool,
        ids: Option<(String, String)>,
    ) -> Ticket {
        let job = &mut self.building;
        job.ops.push(if trailer_missing {
            Op::FinishWithoutTrailer { position, offset }
        } else {
            Op::Finish { position, offset }
        });
        if let Some(s) = job.sets.last_mut() {
            s.ops_end = job.ops.len();
            s.ids = ids;
        }
        let ticket = Ticket { job: job.id };
        if job.bytes.len() >= self.config.job_bytes {
            self.dispatch();
        }
        ticket
    }

    /// Takes the set being recorded back, replaying it into a walker on this thread (a set
    /// too large to copy). Returns `None` when no set is being recorded.
    pub fn take_back(&mut self) -> Option<SetWalker<'g>> {
        let job = &mut self.building;
        let set = job.sets.pop()?;
        let from = job.sets.last().map_or(0, |s| s.ops_end);
        let mut walker = SetWalker::new(set.grammar, set.dict, set.lenient);
        replay(
            &mut walker,
            &job.bytes,
            &job.ops[from..],
            &set.delimiters,
            None,
        );
        job.ops.truncate(from);
        job.bytes.truncate(set.bytes_start);
        Some(walker)
    }

    fn dispatch(&mut self) {
        if self.building.sets.is_empty() {
            return;
        }
        let id = self.building.id;
        let next = match self.free.pop() {
            Some(job) => job.reuse(id + 1),
            None => Job::new(id + 1, self.config.job_bytes),
        };
        let job = std::mem::replace(&mut self.building, next);
        // Bounded work in flight keeps memory bounded: wait for one job before sending more.
        while self.in_flight >= 2 * self.workers {
            if !self.receive() {
                break;
            }
        }
        if self.jobs.send(job).is_ok() {
            self.in_flight += 1;
        }
    }

    /// Blocks for one job's outcomes. False when no worker is left to answer.
    fn receive(&mut self) -> bool {
        match self.results.recv() {
            Ok((job, outcomes)) => {
                self.returned(job, outcomes);
                true
            }
            Err(_) => false,
        }
    }

    fn returned(&mut self, job: Job<'g>, outcomes: Vec<Outcome>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.received.push((job.id, outcomes.into()));
        self.free.push(job);
    }

    /// The outcome of the oldest set not yet taken from `ticket`'s job. With `wait`, sends the
    /// job being filled if need be and blocks; without, returns `None` if it is not there yet.
    pub fn outcome(&mut self, ticket: Ticket, wait: bool) -> Option<Outcome> {
        loop {
            if let Some(i) = self.received.iter().position(|(id, _)| *id == ticket.job) {
                let q = &mut self.received[i].1;
                let o = q.pop_front();
                if q.is_empty() {
                    self.received.swap_remove(i);
                }
                return o;
            }
            if let Ok((job, outcomes)) = self.results.try_recv() {
                self.returned(job, outcomes);
                continue;
            }
            if !wait {
                return None;
            }
            if ticket.job == self.building.id {
                self.dispatch();
            }
            if !self.receive() {
                return None;
            }
        }
    }
}

/// Replays recorded ops into `walker`, and into `tree` (with the loop path the walk gives
/// each segment, as `envelope` feeds a sink inline) when the set is to be held.
fn replay<'g>(
    walker: &mut SetWalker<'g>,
    bytes: &[u8],
    ops: &[Op],
    d: &Delimiters,
    mut tree: Option<&mut TreeBuilder>,
) {
    // A held set's bytes lie side by side in the job: copied into the tree at once, each
    // segment is then held where it landed (`at` is where the job's byte `from` did).
    let (from, at) = match tree.as_deref_mut() {
        Some(t) => {
            let mut spans = ops.iter().filter_map(|op| match op {
                Op::Header { start, end, .. } | Op::Segment { start, end, .. } => {
                    Some((*start, *end))
                }
                _ => None,
            });
            let first = spans.next();
            let from = first.map_or(0, |(start, _)| start);
            let to = spans
                .next_back()
                .or(first)
                .map_or(from, |(_, end)| end)
                .max(from);
            (from, t.take_bytes(&bytes[from..to]))
        }
        None => (0, 0),
    };
    for op in ops {
        match op {
            Op::Header { start, end, offset } => match tree.as_deref_mut() {
                Some(t) => {
                    let h = t.hold_taken(at + (start - from), end - start, *offset, 1);
                    let idx = h.idx;
                    walker.check_header_with(h.raw, d, *offset, h.elements);
                    t.place_in(idx, 0, || "");
                }
                None => walker.check_header(&bytes[*start..*end], d, *offset),
            },
            Op::Segment {
                start,
                end,
                position,
                offset,
            } => {
                let raw = &bytes[*start..*end];
                match tree.as_deref_mut() {
                    // A held segment is split once, for the tree, and the walk takes that split.
                    Some(t) => {
                        let h = t.hold_taken(at + (start - from), end - start, *offset, *position);
                        let (idx, se) = (h.idx, h.id == b"SE");
                        walker.segment_with(h.raw, h.id, d, *position, *offset, || h.elements);
                        // The SE is held at the set level (the set grammar's loop 0), as the
                        // envelope hands it to a sink.
                        match se {
                            true => t.place_in(idx, 0, || ""),
                            false => t.place_in(idx, walker.loop_index(), || walker.loop_path()),
                        }
                    }
                    None => walker.segment(raw, d, *position, *offset),
                }
            }
            Op::Warning(m) => walker.warnings.push(m.clone()),
            Op::Finish { position, offset } => walker.finish(*position, *offset),
            Op::FinishWithoutTrailer { position, offset } => {
                walker.finish_without_trailer(*position, *offset)
            }
        }
    }
}

fn run_jobs<'g>(
    queue: &Mutex<Receiver<Job<'g>>>,
    out: Sender<(Job<'g>, Vec<Outcome>)>,
    work: Option<&'g dyn SetWork>,
) {
    let mut builder = TreeBuilder::default();
    // Clean segments found by this worker and the walker's buffers, handed from each set's
    // walker to the next.
    let mut spare = Spare::default();
    loop {
        // The lock is held only while waiting for the next job, never while walking one.
        let next = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        let mut outcomes = Vec::with_capacity(job.sets.len());
        let mut from = 0;
        for set in &job.sets {
            let mut walker = SetWalker::with_spare(
                set.grammar,
                set.dict,
                set.lenient,
                std::mem::take(&mut spare),
            );
            let to = set.ops_end.min(job.ops.len());
            let held = match (work, &set.ctx, &set.ids) {
                (Some(work), Some(ctx), Some(ids)) => Some((work, ctx, ids)),
                _ => None,
            };
            if let Some((_, ctx, _)) = held {
                builder.start_in(ctx);
            }
            let tree = held.map(|_| &mut builder);
            replay(
                &mut walker,
                &job.bytes,
                &job.ops[from..to],
                &set.delimiters,
                tree,
            );
            from = to;
            spare = walker.take_spare();
            let mut outcome = Outcome::of(walker);
            if let Some((work, ctx, (set_id, control))) = held {
                let tree = builder.finish_ids(set_id, control);
                if !outcome.rejects {
                    outcome.output = Some(work.accepted(tree, ctx));
                }
            }
            outcomes.push(outcome);
        }
        if out.send((job, outcomes)).is_err() {
            return;
        }
    }
}

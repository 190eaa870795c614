import NIOCore
import Synchronization

/// What the attempts of one round report (answers, hedge timers), in order of arrival. The
/// round waits for the next event with one continuation; attempts are futures on the event
/// loops and timers are the loops' scheduled tasks, so a call's attempts start no tasks.
/// Events after `finish` (a losing attempt answering late) are dropped.
final class AttemptEvents: Sendable {
    private struct State {
        var buffered: [ChainRouter.AttemptEvent] = []
        var waiter: UnsafeContinuation<ChainRouter.AttemptEvent?, Never>?
        var finished = false
        var timers: [Scheduled<Void>] = []
    }

    private let state = Mutex(State())
    private let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func post(_ event: ChainRouter.AttemptEvent) {
        let waiter = state.withLock { state -> UnsafeContinuation<ChainRouter.AttemptEvent?, Never>? in
            guard !state.finished else { return nil }
            guard let waiter = state.waiter else {
                state.buffered.append(event)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: event)
    }

    /// Posts `event` after `delay`, unless the round is over by then.
    func post(_ event: ChainRouter.AttemptEvent, after delay: Duration) {
        let timer = loop.scheduleTask(in: TimeAmount(delay)) { self.post(event) }
        let keep = state.withLock { state in
            guard !state.finished else { return false }
            state.timers.append(timer)
            return true
        }
        if !keep { timer.cancel() }
    }

    /// The next event; nil once the round is finished or its task is cancelled.
    func next() async -> ChainRouter.AttemptEvent? {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                let ready = state.withLock { state -> ChainRouter.AttemptEvent?? in
                    if !state.buffered.isEmpty { return .some(state.buffered.removeFirst()) }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Ends the round: pending timers are cancelled and a waiting `next` returns nil.
    func finish() {
        let (timers, waiter) = state.withLock { state in
            state.finished = true
            defer {
                state.timers = []
                state.waiter = nil
            }
            return (state.timers, state.waiter)
        }
        for timer in timers { timer.cancel() }
        waiter?.resume(returning: nil)
    }
}

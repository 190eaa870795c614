import Synchronization

/// The operation did not finish in time.
struct DeadlineExceeded: Error {
    var timeout: Duration
}

/// Runs `operation` and returns its result, or throws `DeadlineExceeded` once `timeout` has passed,
/// whichever comes first; the operation is then cancelled and left to wind down on its own.
///
/// A task group cannot do this: it waits for all its children, and a postgres-nio query that is
/// already on the wire does not react to cancellation (a database that accepts connections but
/// never answers would hold the caller until TCP gives up). So the operation and the timer run as
/// unstructured tasks, and the caller is released by whichever finishes first. Abandoned operations
/// stay few: the first timeout marks the store unavailable, and calls then fail without starting any.
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            guard race.install(continuation) else { return }
            let work = Task {
                do {
                    race.finish(.success(try await operation()))
                } catch {
                    race.finish(.failure(error))
                }
            }
            let timer = Task {
                // Cancelled when the work finishes first; then the finish below is a no-op.
                try? await Task.sleep(for: timeout)
                race.finish(.failure(DeadlineExceeded(timeout: timeout)))
            }
            race.attach(work: work, timer: timer)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of operation, timer and caller cancellation to finish resumes the caller and cancels the others.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// False when the caller was cancelled before the race began (the continuation is then resumed here).
    func install(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let earlyResult = state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        guard let earlyResult else { return true }
        continuation.resume(with: earlyResult)
        return false
    }

    func attach(work: Task<Void, Never>, timer: Task<Void, Never>) {
        let finished = state.withLock { state -> Bool in
            if state.result != nil { return true }
            state.tasks = [work, timer]
            return false
        }
        if finished {
            work.cancel()
            timer.cancel()
        }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.result == nil else { return (nil, []) }
            state.result = result
            defer {
                state.continuation = nil
                state.tasks = []
            }
            return (state.continuation, state.tasks)
        }
        continuation?.resume(with: result)
        for task in tasks { task.cancel() }
    }
}

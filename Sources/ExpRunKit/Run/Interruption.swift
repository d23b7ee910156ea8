// Ctrl-C (SIGINT) and SIGTERM while an experiment runs. The first signal stops the running child
// (SIGTERM, then SIGKILL if it has not ended within `grace` seconds); the runner stores nothing of
// that run, stores nothing more, and ends with `Interrupted`, whose message says how to resume
// (stored runs are skipped on the next run). A second signal ends exprun at once: the child is
// SIGKILLed and the process exits with 128 + signal; SQLite's journal keeps the database whole even
// then, since a run is stored in one transaction.
//
// The handlers only touch atomics and call async-signal-safe functions (kill, write, _exit).
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Interruption {
    /// The signal that asked the experiment to stop (0: none yet).
    static let received = Atomic<Int32>(0)
    /// The running child, 0 when none.
    static let child = Atomic<Int32>(0)
    /// Seconds a child may take to end after SIGTERM before it is SIGKILLed.
    public static let grace: Double = 10

    /// What the second signal prints before exiting, prepared outside the handler.
    nonisolated(unsafe) static var quitMessage = UnsafeMutableBufferPointer<UInt8>(start: nil, count: 0)

    /// Installs the handlers for SIGINT and SIGTERM (for the rest of the process).
    public static func install() {
        _ = received.load(ordering: .relaxed); _ = child.load(ordering: .relaxed)   // initialized before any handler runs
        if quitMessage.baseAddress == nil {
            let text = Array("\nexprun: second interrupt: quitting now; the database keeps every run stored so far\n".utf8)
            quitMessage = .allocate(capacity: text.count)
            _ = quitMessage.initialize(from: text)
        }
        unblock()
        onInterrupt(handle, flags: SA_RESTART)
    }

    /// Sets `handler` for SIGINT and SIGTERM.
    private static func onInterrupt(_ handler: @convention(c) (Int32) -> Void, flags: Int32) {
        for sig in [SIGINT, SIGTERM] {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = handler
            #else
            action.__sigaction_u.__sa_handler = handler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = flags
            sigaction(sig, &action, nil)
        }
    }

    private static let handle: @convention(c) (Int32) -> Void = { sig in
        let first = Interruption.received.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent).exchanged
        let pid = Interruption.child.load(ordering: .sequentiallyConsistent)
        if first {
            if pid > 0 { kill(pid, SIGTERM) }
            return
        }
        if pid > 0 { kill(pid, SIGKILL) }
        _ = write(2, Interruption.quitMessage.baseAddress, Interruption.quitMessage.count)
        _exit(128 + sig)
    }

    /// In a child (`exprun run-one`): SIGINT and SIGTERM end it by that signal, as if unhandled, so
    /// the parent sees how the child ended. A handler rather than the default action: a stopped
    /// child (SIGSTOP, a debugger) keeps the signal pending until it is continued instead of being
    /// killed where it stands, so exprun's grace period and second Ctrl-C apply to it as to a child
    /// that is slow to end. (It removed the child's logits file too, until scratch files had no name.)
    public static func endOnInterrupt() {
        unblock()
        onInterrupt(end, flags: 0)
    }

    private static let end: @convention(c) (Int32) -> Void = { sig in
        #if canImport(Glibc)
        Glibc.signal(sig, SIG_DFL)
        #else
        Darwin.signal(sig, SIG_DFL)
        #endif
        raise(sig)
    }

    /// A process started from a thread that blocks signals (libdispatch's workers do) inherits that
    /// mask: unblocked here, SIGINT and SIGTERM reach this thread.
    static func unblock() {
        var set = sigset_t()
        sigemptyset(&set); sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// The signal received, if any.
    public static var signal: Int32? {
        let s = received.load(ordering: .sequentiallyConsistent)
        return s == 0 ? nil : s
    }

    /// Records a stop request that did not come through our handlers (a child ended by SIGINT or
    /// SIGTERM from outside: the terminal's Ctrl-C reaches the whole process group).
    static func request(_ sig: Int32) {
        _ = received.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent)
    }

    /// Called once a child runs: a signal that came just before is passed on to it.
    static func childStarted(_ pid: Int32) {
        child.store(pid, ordering: .sequentiallyConsistent)
        if signal != nil { kill(pid, SIGTERM) }
    }

    static func childEnded() {
        child.store(0, ordering: .sequentiallyConsistent)
    }

    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: "SIGINT (Ctrl-C)"
        case SIGTERM: "SIGTERM"
        default: "signal \(sig)"
        }
    }
}

/// The experiment stopped on a signal. `stopped` names the run that was cut short (not stored).
public struct Interrupted: Error, CustomStringConvertible {
    public var signal: Int32
    public var stopped: String?
    public var stored: Int
    public var remaining: Int

    public var description: String {
        "interrupted by \(Interruption.name(signal)): "
            + (stopped.map { "the run of \($0) was stopped and not stored; " } ?? "")
            + "\(stored) run(s) stored in this session, \(remaining) not run yet"
    }

    /// The exit status a shell expects of a process ended by this signal.
    public var exitStatus: Int32 { 128 + signal }
}

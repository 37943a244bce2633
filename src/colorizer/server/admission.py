"""Admission control: at most `concurrency` inferences run at once and at most
`queue_size` more requests wait; anything beyond is refused at once (503), so memory
stays bounded however many clients call."""
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor


class Gate:
    """Admits at most `concurrency + queue_size` requests at once (the rest get 503);
    inference runs in a pool of `concurrency` threads, so the others wait in its queue."""

    def __init__(self, concurrency, queue_size):
        self.concurrency, self.queue_size = concurrency, queue_size
        self.capacity = concurrency + queue_size
        self.admitted = 0  # requests being received, waiting or running now
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="colorize")

    def enter(self):
        """True when the request is admitted (call leave() when it is answered)."""
        with self.lock:
            if self.admitted >= self.capacity:
                return False
            self.admitted += 1
            return True

    def leave(self):
        with self.lock:
            self.admitted -= 1

    async def run(self, fn, *args):
        """fn(*args) in the inference pool, awaited."""
        return await asyncio.wrap_future(self.pool.submit(fn, *args))

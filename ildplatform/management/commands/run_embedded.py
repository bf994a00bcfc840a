import os
import signal
import time
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ildplatform import embedded


class Command(BaseCommand):
    help = (
        "Run the whole platform on this machine: migrate, seed demo users and patients, then start "
        "Redis, a Celery worker per queue (cpu, gpu) and the web server; the demo trains its demo model in the "
        "background. Ctrl-C stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="do not seed demo users and patients")
        parser.add_argument("--demo-slices", type=int, default=24, help="slices per demo phantom series")

    def handle(self, *args, **options):
        redis_url = urlparse(settings.REDIS_URL)
        if redis_url.hostname not in ("127.0.0.1", "localhost"):
            raise CommandError(f"REDIS_URL {settings.REDIS_URL} is not local: the embedded default runs its own Redis")
        env = os.environ | {"REDIS_URL": settings.REDIS_URL, "DJANGO_SETTINGS_MODULE": "ildplatform.settings"}
        env.setdefault("PUBLIC_BASE_URL", f"http://{options['host']}:{options['port']}")
        processes = []
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        # Both set explicitly: a shell that starts us in the background leaves SIGINT ignored.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        try:
            # Redis first: the demo import queues lung-mask jobs, which wait there for the worker.
            processes.append(embedded.start_redis(redis_url.port or 6379, settings.VAR_DIR / "redis"))
            self.stdout.write(f"redis: {embedded.redis_server_binary()} on {settings.REDIS_URL}")
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            if not options["no_demo"]:
                call_command("seed_demo", slices=options["demo_slices"])
                # Named, not imported: the demo's model belongs to the inference app above the core.
                call_command("queue_demo_training")
            # One worker per queue: a training run on `gpu` does not hold up imports and lung masks on `cpu`.
            processes.append(embedded.start_worker(env, queues="cpu"))
            processes.append(embedded.start_worker(env, queues="gpu"))
            self.stdout.write("celery workers: one on queue cpu, one on queue gpu")
            processes.append(embedded.start_web(env, options["host"], options["port"]))
            self.stdout.write(self.style.SUCCESS(f"ILD platform on http://{options['host']}:{options['port']}/"))
            while not stopping:
                for process in processes:
                    if process.poll() is not None:
                        raise RuntimeError(f"{process.args[:3]} stopped with code {process.returncode}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("stopping web server, workers and redis ...")
            embedded.stop(reversed(processes))

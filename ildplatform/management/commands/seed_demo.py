from django.core.management.base import BaseCommand

from ildplatform.demo import seeding


class Command(BaseCommand):
    help = "Create demo users (one per role) and demo phantom patients with several visits (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=3)
        parser.add_argument("--visits", type=int, default=3)
        parser.add_argument("--slices", type=int, default=24)

    def handle(self, *args, **options):
        seeding.demo_users_create()
        manifest = seeding.demo_patients_seed(
            patients=options["patients"],
            visits=options["visits"],
            slices=options["slices"],
            before_writing=lambda folder: self.stdout.write(f"writing demo phantoms to {folder} ..."),
        )
        self.stdout.write(
            f"demo patients: {len(manifest['patients'])} x {options['visits']} visits ({options['slices']} slices each)"
        )
        self.stdout.write("demo users (user / password / role):")
        for username, role in seeding.DEMO_USERS:
            self.stdout.write(f"  {username:<12} {seeding.demo_password(username):<18} {role}")

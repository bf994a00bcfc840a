from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ildplatform.exceptions import DomainError
from inference import selectors, services


class Command(BaseCommand):
    help = (
        "Switch a model version on (its task's active version goes off) or off, with the reason; audited like "
        "the models page's switch."
    )

    def add_arguments(self, parser):
        parser.add_argument("model_version_id", type=int)
        parser.add_argument("--reason", required=True)
        parser.add_argument("--off", action="store_true", help="switch it off instead")
        parser.add_argument("--by", help="the username recorded as having done it")

    def handle(self, *args, **options):
        user = None
        if options["by"]:
            user = get_user_model().objects.filter(username=options["by"]).first()
            if user is None:
                raise CommandError(f"no user {options['by']!r}")
        try:
            version = selectors.model_version_get(model_version_id=options["model_version_id"])
            version = services.model_set_active(
                version=version, active=not options["off"], reason=options["reason"], user=user
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"{version} is {'active' if version.is_active else 'inactive'}")

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ildplatform import services
from ildplatform.exceptions import DomainError
from ildplatform.roles import ROLES


class Command(BaseCommand):
    help = "Create a user with one role (reader, adjudicator, clinician, admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", help="without it the user cannot log in until a password is set")
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        if options["password"] is not None:
            try:  # the site's password rules (AUTH_PASSWORD_VALIDATORS), as for a password set in the admin
                validate_password(options["password"], User(username=options["username"], email=options["email"]))
            except ValidationError as error:
                raise CommandError("password refused: " + " ".join(error.messages)) from None
        try:
            user = services.user_create(
                username=options["username"], role=options["role"], password=options["password"],
                email=options["email"],
            )  # fmt: skip
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"created {user.username} with role {options['role']}")

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ildplatform.settings")

app = Celery("ildplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Two queues: `gpu` for U-Net work, `cpu` for everything else; a worker picks them with -Q.
app.conf.task_queues = (Queue("cpu"), Queue("gpu"))
app.autodiscover_tasks()

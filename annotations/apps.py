from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotations"

    def ready(self) -> None:
        from ildplatform import jobs
        from inference import training_data, visibility

        from . import access, services, training

        jobs.job_runner_register(services.AGREEMENT_JOB, services.agreement_run)
        jobs.job_runner_register(services.INVOLVEMENT_JOB, services.review_involvement_run)
        # Reader and consensus involvement stay hidden as long as the readings are (the blinding rule).
        visibility.hidden_sources_rule_register(access.hidden_involvement_sources_by_series)
        # Finalised consensus masks are what hospital models learn from.
        training_data.training_source_register(
            "consensus", training.consensus_source, lung_method="the series' stored lung masks, as inference masks"
        )

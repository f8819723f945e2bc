# A sandbox being removed no longer counts as its owner's current one: a lesson that needs
# another shape replaces it while a worker removes the old one.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0002_queuedstart"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="sandbox", name="one_live_sandbox_per_owner"),
        migrations.AddConstraint(
            model_name="sandbox",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ("requested", "provisioning", "ready", "resetting", "failed"))),
                fields=("owner",),
                name="one_owned_sandbox_per_owner",
            ),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0002_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="trigger",
            name="origin",
            field=models.CharField(choices=[("spec", "pipeline YAML"), ("api", "API")], default="spec", max_length=8),
        ),
        migrations.AlterField(
            model_name="trigger",
            name="key",
            field=models.CharField(
                help_text="Where it is declared, e.g. schedule[0] or webhook; schedule:<name> when added by API.",
                max_length=64,
            ),
        ),
    ]

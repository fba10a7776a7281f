"""eSpeak NG provider."""

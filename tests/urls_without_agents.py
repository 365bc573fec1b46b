"""A project URLconf that leaves out ``agentic_django.urls`` (agents called from Python only)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]

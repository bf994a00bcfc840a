from .apis import routes

urlpatterns = routes.urlpatterns

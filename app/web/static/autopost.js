// Posts the sign-in answer to the application at once; the button is there for browsers without scripts.
document.getElementById("autopost").submit();
